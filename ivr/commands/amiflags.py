"""The AMI flags ``ivr serve`` and ``ivr call`` share: engine.yaml first, then these."""

from __future__ import annotations

from ivr.argtypes import tcp_port


def add(p) -> None:
    p.add_argument("--config", default=None, help="engine settings file (default: engine.yaml in the config folder)")
    p.add_argument("--host", help="Asterisk AMI host (config ami.host)")
    p.add_argument("--port", type=tcp_port, help="Asterisk AMI port (config ami.port, usually 5038)")
    p.add_argument("--user", help="AMI username (config ami.username)")
    p.add_argument("--secret-env", help="environment variable holding the AMI secret (config ami.secret_env)")
    p.add_argument("--secret-file", help="file whose first line is the AMI secret (config ami.secret_file)")


def settings(args):
    """The engine settings with the flags applied, and the AMI secret (never printed)."""
    from hotline import paths
    from ivr import settings as settings_mod

    loaded = settings_mod.load(args.config or paths.config_file("engine.yaml"))
    ami = loaded.ami
    for flag, attr in (("host", "host"), ("port", "port"), ("user", "username"),
                       ("secret_env", "secret_env"), ("secret_file", "secret_file")):
        value = getattr(args, flag)
        if value is not None:
            setattr(ami, attr, value)
    return loaded, ami.secret()
