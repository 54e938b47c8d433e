"""What a worker may see of the parent's environment, and redaction of what leaks back."""

from kernelevolve.eval.sandbox import REDACTED, Redactor, worker_environment

PARENT = {
    "PATH": "/usr/bin",
    "HOME": "/home/u",
    "OPENAI_API_KEY": "sk-live-0123456789",
    "GITHUB_TOKEN": "ghp_abcdefghij",
    "DB_PASSWORD": "hunter2hunter2",
    "AWS_SECRET_ACCESS_KEY": "abc/def/ghi",
    "MY_CREDENTIALS_FILE": "/secret/creds",
    "DATABASE_URL": "postgresql://me:pa55word@db/x",
    "PWD": "/home/u/project",
    "OLDPWD": "/home/u",
    "KERNELEVOLVE_STORE": "sqlite:///x.db",
}


def test_secrets_and_user_directory_are_stripped():
    env = worker_environment(PARENT, "/tmp/scratch", {"TRITON_INTERPRET": "1"})
    assert env["PATH"] == "/usr/bin" and env["HOME"] == "/home/u"
    for name in ("OPENAI_API_KEY", "GITHUB_TOKEN", "DB_PASSWORD", "AWS_SECRET_ACCESS_KEY",
                 "MY_CREDENTIALS_FILE", "DATABASE_URL", "OLDPWD", "KERNELEVOLVE_STORE"):
        assert name not in env
    assert env["PWD"] == "/tmp/scratch"
    assert env["TRITON_INTERPRET"] == "1"


def test_secret_values_are_redacted_from_text():
    redact = Redactor(PARENT)
    text = "env: sk-live-0123456789 and ghp_abcdefghij, path /usr/bin"
    assert redact(text) == f"env: {REDACTED} and {REDACTED}, path /usr/bin"
