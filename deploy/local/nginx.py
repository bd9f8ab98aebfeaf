"""The gateway of the local HA stack: Debian's nginx, found on the PATH or unpacked from its package.

Unpacking (`apt-get download` + `dpkg -x`) needs no root and starts no system service; the binary runs from
the unpacked tree with a config that names every path it writes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from string import Template

from keptn_temporal.process import ChildSpec

CONFIG_TEMPLATE = Path(__file__).resolve().parent.parent / "nginx" / "keptn-gateway.conf"


class NginxUnavailable(RuntimeError):
    pass


def find_or_install(cache_dir: Path) -> Path:
    """An nginx binary: $PATH, /usr/sbin, or Debian's package unpacked into cache_dir."""
    for candidate in (shutil.which("nginx"), "/usr/sbin/nginx", cache_dir / "root/usr/sbin/nginx"):
        if candidate and Path(candidate).exists():
            return Path(candidate)
    cache_dir.mkdir(parents=True, exist_ok=True)
    try:
        subprocess.run(
            ["apt-get", "download", "nginx"], cwd=cache_dir, check=True, capture_output=True, timeout=300
        )
        package = next(cache_dir.glob("nginx_*.deb"))
        subprocess.run(["dpkg", "-x", str(package), str(cache_dir / "root")], check=True, timeout=120)
    except (OSError, subprocess.SubprocessError, StopIteration) as exc:
        raise NginxUnavailable(
            f"nginx not found and Debian's package could not be unpacked ({exc}); install it: apt-get install nginx"
        ) from exc
    return cache_dir / "root/usr/sbin/nginx"


def render_config(workdir: Path, listen_port: int, upstream_ports: list[int]) -> Path:
    for sub in ("logs", "tmp"):
        (workdir / sub).mkdir(parents=True, exist_ok=True)
    servers = "\n".join(f"        server 127.0.0.1:{port} max_fails=0;" for port in upstream_ports)
    text = Template(CONFIG_TEMPLATE.read_text()).substitute(
        pid_file=workdir / "nginx.pid",
        log_dir=workdir / "logs",
        tmp_dir=workdir / "tmp",
        listen=f"127.0.0.1:{listen_port}",
        servers=servers,
        # As root, nginx's workers would run as `nobody` and could not write our temp dirs.
        user_directive="user root;" if os.geteuid() == 0 else "",
    )
    path = workdir / "nginx.conf"
    path.write_text(text)
    return path


def nginx_spec(binary: Path, config: Path) -> ChildSpec:
    # -p: a prefix of our own, so nginx never looks at /etc/nginx or /var/log/nginx of the machine.
    return ChildSpec(
        name="nginx",
        argv=[
            str(binary),
            "-p",
            str(config.parent),
            "-c",
            str(config),
            "-e",
            str(config.parent / "logs/error.log"),
        ],
        stop_timeout_s=10.0,
    )
