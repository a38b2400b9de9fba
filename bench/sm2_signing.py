"""Signing and verifying one 100-record batch with SM2 (SM2SM3) against ES256, in one run (issue 17).

For each algorithm: a center of that algorithm (its CA), an emulated card enrolled there, and the batch of 100
filings. *sign* is what the agent's signer does: the canonical payload streamed into the digest (SHA-256, or SM3
after the card's Z value) and one GENERAL AUTHENTICATE on the card, in process (PivSession over the emulated card:
APDUs and the card's own signing, no pcscd). *verify* is what the center does with it: the detached JWS checked
against the payload (ES256 by cryptography/OpenSSL, SM2 by GmSSL through gmssl-pyx) and the certificate against the
CA. The algorithms alternate, round by round, so that both see the same machine.

    python bench/sm2_signing.py [--rounds 300]

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(HERE))

from agent.card.emulated import EmulatedConnection  # noqa: E402
from agent.card.piv import PIV_ALGORITHMS, PivSession  # noqa: E402
from sync.algorithms import ES256, SM2SM3  # noqa: E402
from sync.protocol import (  # noqa: E402
    canonical_json,
    canonical_payload_chunks,
    check_issued_by,
    sign_detached_stream,
    verify_detached,
)
from tests.center_support import open_center  # noqa: E402
from tests.rigs import PIN, enrolled_card  # noqa: E402

RECORDS = 100


def batch() -> tuple[dict[str, Any], list[str]]:
    header = {"v": 1, "batch_id": "bench-0001", "kind": "filings", "enterprise": "1101230001", "created_at": "t"}
    records = [{"seq": n + 2, "form_no": f"{260000000 + n:09d}", "port": "上海海关"} for n in range(RECORDS)]
    return header, [canonical_json(r).decode() for r in records]


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "median_ms": round(statistics.median(ordered) * 1000, 3),
        "p95_ms": round(ordered[int(len(ordered) * 0.95) - 1] * 1000, 3),
    }


def measure(rounds: int) -> dict[str, Any]:
    header, texts = batch()
    payload = canonical_json({**header, "records": [json.loads(t) for t in texts]})
    timings: dict[str, dict[str, list[float]]] = {}
    setups = []
    with tempfile.TemporaryDirectory() as tmp:
        for algorithm in (ES256, SM2SM3):
            center = open_center(Path(tmp) / algorithm, ["1101230001"], algorithm=algorithm)
            card = enrolled_card(center)
            session = PivSession(EmulatedConnection(card))
            session.verify_pin(PIN)
            assert card.certificate is not None
            piv = PIV_ALGORITHMS[algorithm]
            setups.append((algorithm, center, card.certificate, lambda d, s=session, p=piv: s.sign_digest(d, p)))
            timings[algorithm] = {"sign": [], "verify": []}
        for _ in range(rounds):
            for algorithm, center, certificate, signer in setups:
                start = time.perf_counter()
                signature = sign_detached_stream(canonical_payload_chunks(header, texts), [certificate], signer)
                signed = time.perf_counter()
                chain = verify_detached(signature, payload)
                check_issued_by(chain[0], center.ca_certificate())
                done = time.perf_counter()
                timings[algorithm]["sign"].append(signed - start)
                timings[algorithm]["verify"].append(done - signed)
        for _, center, _, _ in setups:
            center.close()
    return {
        "benchmark": "sm2_signing",
        "records": RECORDS,
        "payload_bytes": len(payload),
        "rounds": rounds,
        **{
            algorithm.lower(): {step: summary(samples) for step, samples in steps.items()}
            for algorithm, steps in timings.items()
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=300)
    print(json.dumps(measure(parser.parse_args().rounds), ensure_ascii=False))


if __name__ == "__main__":
    main()
