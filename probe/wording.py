"""Things the probe names in sentences for people: addresses with their ports, OS errors.

One place for each, so that every message, record and log line words them alike
(an IPv6 address in brackets before its port, an OS error as its short reason).
"""


def host_port(host: str, port: int) -> str:
    """``host:port``, with an IPv6 address in brackets (``[::1]:443``) as URLs write it."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def bracketed(host: str) -> str:
    """``host`` as it stands in a URL's authority: an IPv6 address in brackets."""
    return f"[{host}]" if ":" in host else host


def os_reason(error: BaseException) -> str:
    """The short reason of an OS error ("no such file or directory"), else the error's text."""
    if isinstance(error, OSError) and error.strerror:
        return error.strerror.lower()
    return str(error)
