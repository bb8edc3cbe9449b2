#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""fault-stream.py - the fault suite's client: a steady stream of Alertmanager
webhooks (new and duplicate alerts mixed) from several threads, each
resent like Alertmanager does until the gateway answers 2xx, with a ledger of
every answer.

    fault-stream.py URL PREFIX SECONDS LEDGER NAMESPACES [THREADS] [DRAIN_SECONDS]

Sends for SECONDS, then keeps resending every alert whose last answer was not
2xx for at most DRAIN_SECONDS more.  Each alert is its own pod "<PREFIX>-<n>"
in one of NAMESPACES (a comma-separated list, taken in turn), so its
fingerprint is sha256("<ns>:Pod:<pod>").  The namespaces must exist (the
gateway ignores signals about namespaces the cluster does not have), and
the gateway must take hundreds of new alerts a minute from one client: the
caller sees to both (fault-stream.bash).  A delivery is one alert's first
send or one of its resends as a duplicate (a later, independent notification of the same alert).
Writes LEDGER as JSON: {"signals": {fp: {"ok": N 2xx, "answers": {...}}},
"sent": requests, "codes": {status: count}}.  Bounded: 127.0.0.1 only, one
request in flight per thread, every request times out after 20 s.
"""
import hashlib
import json
import random
import sys
import threading
import time
import urllib.error
import urllib.request


def webhook(ns, pod):
    alert = {
        "status": "firing",
        "labels": {"alertname": "FaultStream", "namespace": ns, "pod": pod,
                   "severity": "warning"},
        "annotations": {"summary": "fault suite"},
        "startsAt": "2026-11-23T10:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
    }
    return json.dumps({"version": "4", "groupKey": "{}:{alertname=\"FaultStream\"}",
                       "status": "firing", "receiver": "alertgw",
                       "groupLabels": {"alertname": "FaultStream"},
                       "commonLabels": alert["labels"], "commonAnnotations": {},
                       "externalURL": "http://alertmanager.test", "alerts": [alert]}).encode()


def post(url, body):
    req = urllib.request.Request(url, data=body, method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            r.read()
            return r.status
    except urllib.error.HTTPError as e:
        e.read()
        return e.code
    except Exception:  # connection refused or reset, timeout: no answer
        return 0


def main():
    if len(sys.argv) < 6:
        sys.exit("usage: fault-stream.py URL PREFIX SECONDS LEDGER NAMESPACES [THREADS] [DRAIN_SECONDS]")
    url, prefix, seconds, ledger = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
    namespaces = [ns for ns in sys.argv[5].split(",") if ns]
    threads = int(sys.argv[6]) if len(sys.argv) > 6 else 4
    drain = float(sys.argv[7]) if len(sys.argv) > 7 else 90
    if not url.startswith("http://127.0.0.1:"):
        sys.exit("fault-stream: loopback only")
    if not namespaces:
        sys.exit("fault-stream: no namespaces")
    lock = threading.Lock()
    signals = {}   # fp -> {"ok": n, "answers": {code: n}}
    known = []     # (ns, pod, fp) already stored once: candidates for duplicates
    codes = {}
    sent = [0]
    counter = [0]
    stop_at = time.monotonic() + seconds
    give_up = stop_at + drain

    def record(fp, code):
        with lock:
            s = signals.setdefault(fp, {"ok": 0, "answers": {}})
            s["answers"][str(code)] = s["answers"].get(str(code), 0) + 1
            if 200 <= code < 300:
                s["ok"] += 1
            codes[str(code)] = codes.get(str(code), 0) + 1
            sent[0] += 1

    def deliver(ns, pod, fp, deadline):
        """One delivery: resend until 2xx (Alertmanager's retry), bounded."""
        body = webhook(ns, pod)
        while True:
            code = post(url, body)
            record(fp, code)
            if 200 <= code < 300:
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.25)

    def worker(seed):
        rnd = random.Random(seed)
        while time.monotonic() < stop_at:
            with lock:
                dup = known and rnd.random() < 0.6
                if dup:
                    ns, pod, fp = rnd.choice(known)
                else:
                    counter[0] += 1
                    ns = namespaces[counter[0] % len(namespaces)]
                    pod = "%s-%d" % (prefix, counter[0])
                    fp = hashlib.sha256(("%s:Pod:%s" % (ns, pod)).encode()).hexdigest()
                    signals.setdefault(fp, {"ok": 0, "answers": {}})
            if deliver(ns, pod, fp, give_up) and not dup:
                with lock:
                    known.append((ns, pod, fp))
            time.sleep(0.01)

    ts = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    with open(ledger, "w") as f:
        json.dump({"signals": signals, "sent": sent[0], "codes": codes}, f)


if __name__ == "__main__":
    main()
