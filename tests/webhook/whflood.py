"""Load that opens connections the way kube-apiserver does, for the overload test and benchmark (loopback only).

kube-apiserver calls a webhook through client-go's transport, Go's `http.Transport`: a call takes an idle
kept-alive connection if there is one and otherwise dials a new one, with no limit on how many; after the
answer the connection goes back to an idle pool of at most 25 per host (client-go's `idleConnsPerHost`) and
the rest are closed; a call that times out (the configuration's timeoutSeconds) closes its connection. So when
answers slow down, every new call opens a connection: hundreds at once, each with its TLS handshake.
vegeta is that same Go client (`-connections 25`: the idle pool; `-max-connections 0`: no limit) in an open
loop, each call due at its time whatever the answers, as the API server's callers make them; it is built
from its Go module like the other tools (tests/e2e/build-tools.sh). A Python client cannot make this load
on two cores shared with the server: an asyncio one spent the CPU the server needed on its own handshakes.
"""

from __future__ import annotations

import datetime
import json
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from e2e import tools
from required import missing_tool

# client-go keeps this many idle connections per host (k8s.io/client-go/transport/cache.go).
IDLE_PER_HOST = 25


@dataclass(frozen=True)
class Outcome:
    due: float  # seconds after the first call, when this one was sent
    latency: float  # seconds to its answer (or to its failure)
    status: int  # the HTTP status; 0: no answer
    error: str = ""  # why there was no answer, as Go's client says it


def vegeta() -> Path:
    found = tools.tool("vegeta")
    if not found.exists():
        missing_tool(f"vegeta is not built at {found} (make tools)")
    return found


def _attack(url: str, ca: Path, body: bytes, options: list[str], path: str) -> list[Outcome]:
    with tempfile.TemporaryDirectory(prefix="whflood-") as tmp:
        work = Path(tmp)
        (work / "body.json").write_bytes(body)
        (work / "targets").write_text(f"POST {url}{path}\nContent-Type: application/json\n@{work / 'body.json'}\n")
        results = work / "results.bin"
        subprocess.run([str(vegeta()), "attack", "-targets", str(work / "targets"), "-root-certs", str(ca),
                        "-http2=false", "-keepalive", f"-connections={IDLE_PER_HOST}", "-max-connections=0",
                        "-output", str(results), *options], check=True, stdout=subprocess.DEVNULL)
        encoded = subprocess.run([str(vegeta()), "encode", "--to", "json", str(results)], check=True,
                                 capture_output=True, text=True).stdout
    found = [json.loads(line) for line in encoded.splitlines() if line]
    sent = [datetime.datetime.fromisoformat(r["timestamp"]).timestamp() for r in found]
    start = min(sent, default=0.0)
    return sorted((Outcome(at - start, r["latency"] / 1e9, r["code"], r["error"]) for at, r in zip(sent, found,
                                                                                                  strict=True)),
                  key=lambda o: o.due)


def flood(url: str, ca: Path, body: bytes, rate: float, seconds: float, timeout: float,
          path: str = "/validate") -> list[Outcome]:
    """`rate` calls a second for `seconds`, as kube-apiserver makes them, each given up after `timeout`."""
    per_ten = max(1, round(rate * 10))
    return _attack(url, ca, body, [f"-rate={per_ten}/10s", f"-duration={seconds}s", f"-timeout={timeout}s"], path)


def sustained(url: str, ca: Path, body: bytes, seconds: float = 3.0, callers: int = 8,
              path: str = "/validate") -> float:
    """Calls a second answered 200 when `callers` call back to back on kept-alive connections."""
    outcomes = _attack(url, ca, body, ["-rate=0", f"-workers={callers}", f"-max-workers={callers}",
                                       f"-duration={seconds}s", "-timeout=10s"], path)
    return sum(o.status == 200 for o in outcomes) / seconds


def timed_out(outcome: Outcome) -> bool:
    """No answer within the call's timeout (Go: `Client.Timeout exceeded`, `context deadline exceeded`)."""
    return outcome.status == 0 and ("Timeout" in outcome.error or "deadline exceeded" in outcome.error)
