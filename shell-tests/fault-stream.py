#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""fault-stream.py - the fault suites' client: a steady stream of Alertmanager
webhooks (new and duplicate alerts mixed) from several threads, each
resent like Alertmanager does until the gateway answers 2xx, with a ledger of
every answer.

    fault-stream.py [--alert-per-pod] [--storm NS:ALERTNAME:PODS:AT]
                    [--stop-file PATH] URL[,URL...] PREFIX SECONDS LEDGER NAMESPACES
                    [THREADS] [DRAIN_SECONDS]

Sends for SECONDS (or until PATH of --stop-file exists, if sooner), then
keeps resending every alert whose last answer was not 2xx for at most
DRAIN_SECONDS more.  Each alert is its own pod "<PREFIX>-<n>"
in one of NAMESPACES (a comma-separated list, taken in turn), so its
fingerprint is sha256("<ns>:Pod:<pod>").  The namespaces must exist (the
gateway ignores signals about namespaces the cluster does not have), and
the gateway must take hundreds of new alerts a minute from one client: the
caller sees to both (fault-stream.bash).  A delivery is one alert's first
send or one of its resends as a duplicate (a later, independent
notification of the same alert).

Several URLs (gateway hosts): every request, a resend too, goes to the next
URL in turn (round robin), so a host that does not answer has its alert
resent to the other one.

--alert-per-pod: each pod's alert has a name of its own ("FaultStream-<n>"),
so that with storm detection on, the stream's alerts never fold into a
storm (one resource per alert name); by default all are "FaultStream".

--storm NS:ALERTNAME:PODS:AT: AT seconds after the start, a burst of PODS new
pods "<PREFIX>-storm-<i>" in namespace NS, all with alert name ALERTNAME,
from 4 threads of their own; each is delivered (resent until 2xx) and then
repeated once.  When the burst has its answers, the file LEDGER.storm-done
is written (a caller waits for it before injecting a fault).

Writes LEDGER as JSON: {"signals": {fp: {"ok": N 2xx, "answers": {...},
"pod": ..., "ns": ..., "storm": bool, "refs": {RR name: 2xx answers naming
it}}}, "sent": requests, "codes": {status: count}, "hosts": {url: {status:
count}}, "storm": {"ns", "alertname", "pods"} or null, "events": [[sent_at,
answered_at, url index, status], ...] (Unix times)}.  Bounded: loopback or
private (RFC 1918) addresses only (a test bridge), one request in flight per
thread, every request times out after 20 s.
"""
import argparse
import hashlib
import ipaddress
import json
import os
import random
import threading
import time
import urllib.error
import urllib.parse
import urllib.request


def webhook(ns, pod, alertname):
    alert = {
        "status": "firing",
        "labels": {"alertname": alertname, "namespace": ns, "pod": pod,
                   "severity": "warning"},
        "annotations": {"summary": "fault suite"},
        "startsAt": "2026-11-23T10:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
    }
    return json.dumps({"version": "4", "groupKey": "{}:{alertname=\"%s\"}" % alertname,
                       "status": "firing", "receiver": "alertgw",
                       "groupLabels": {"alertname": alertname},
                       "commonLabels": alert["labels"], "commonAnnotations": {},
                       "externalURL": "http://alertmanager.test", "alerts": [alert]}).encode()


# straight to the gateway, never through an http_proxy of the environment
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def post(url, body):
    """(status, parsed JSON body or None); status 0 when no answer came."""
    req = urllib.request.Request(url, data=body, method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with OPENER.open(req, timeout=20) as r:
            data = r.read()
            status = r.status
    except urllib.error.HTTPError as e:
        e.read()
        return e.code, None
    except Exception:  # connection refused or reset, timeout: no answer
        return 0, None
    try:
        return status, json.loads(data)
    except ValueError:
        return status, None


def bounded_url(url):
    """Only http:// to a loopback or private address (a test bridge)."""
    u = urllib.parse.urlsplit(url)
    try:
        addr = ipaddress.ip_address(u.hostname or "")
    except ValueError:
        return False
    return u.scheme == "http" and (addr.is_loopback or addr.is_private)


def parse_args():
    p = argparse.ArgumentParser(description="the fault suites' resending client")
    p.add_argument("--alert-per-pod", action="store_true")
    p.add_argument("--storm", default="")
    p.add_argument("--stop-file", default="")
    p.add_argument("urls")
    p.add_argument("prefix")
    p.add_argument("seconds", type=float)
    p.add_argument("ledger")
    p.add_argument("namespaces")
    p.add_argument("threads", type=int, nargs="?", default=4)
    p.add_argument("drain", type=float, nargs="?", default=90)
    a = p.parse_args()
    a.urls = [x for x in a.urls.split(",") if x]
    a.namespaces = [ns for ns in a.namespaces.split(",") if ns]
    if not a.urls or not all(bounded_url(x) for x in a.urls):
        p.error("loopback or private addresses only: %s" % a.urls)
    if not a.namespaces:
        p.error("no namespaces")
    if a.storm:
        f = a.storm.split(":")
        if len(f) != 4:
            p.error("--storm NS:ALERTNAME:PODS:AT")
        a.storm = (f[0], f[1], int(f[2]), float(f[3]))
    return a


class Ledger:
    def __init__(self, urls):
        self.lock = threading.Lock()
        self.urls = urls
        self.signals = {}   # fp -> see the module doc
        self.codes = {}
        self.hosts = {u: {} for u in urls}
        self.events = []
        self.sent = 0
        self.next_url = 0
        self.storm = None   # {"ns", "alertname", "pods"} of the burst

    def signal(self, ns, pod, storm=False):
        fp = hashlib.sha256(("%s:Pod:%s" % (ns, pod)).encode()).hexdigest()
        with self.lock:
            self.signals.setdefault(fp, {"ok": 0, "answers": {}, "ns": ns, "pod": pod,
                                         "storm": storm, "refs": {}})
        return fp

    def pick(self):
        with self.lock:
            i = self.next_url
            self.next_url = (i + 1) % len(self.urls)
            return i

    def record(self, fp, i, t0, code, body):
        t1 = time.time()
        with self.lock:
            s = self.signals[fp]
            s["answers"][str(code)] = s["answers"].get(str(code), 0) + 1
            if 200 <= code < 300:
                s["ok"] += 1
                ref = (body or {}).get("remediationRequestName")
                if ref:
                    s["refs"][ref] = s["refs"].get(ref, 0) + 1
            self.codes[str(code)] = self.codes.get(str(code), 0) + 1
            h = self.hosts[self.urls[i]]
            h[str(code)] = h.get(str(code), 0) + 1
            self.events.append([round(t0, 4), round(t1, 4), i, code])
            self.sent += 1

    def deliver(self, ns, pod, fp, alertname, deadline):
        """One delivery: resend until 2xx (Alertmanager's retry), bounded."""
        body = webhook(ns, pod, alertname)
        while True:
            i = self.pick()
            t0 = time.time()
            code, answer = post(self.urls[i], body)
            self.record(fp, i, t0, code, answer)
            if 200 <= code < 300:
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.25)

    def dump(self, path):
        with open(path, "w") as f:
            json.dump({"signals": self.signals, "sent": self.sent, "codes": self.codes,
                       "hosts": self.hosts, "events": self.events, "storm": self.storm}, f)


def storm_burst(led, a, start, give_up):
    ns, alertname, pods, at = a.storm
    time.sleep(max(0.0, start + at - time.monotonic()))
    todo = list(range(1, pods + 1))
    lock = threading.Lock()

    def worker():
        while True:
            with lock:
                if not todo:
                    return
                n = todo.pop(0)
            pod = "%s-storm-%d" % (a.prefix, n)
            fp = led.signal(ns, pod, storm=True)
            if led.deliver(ns, pod, fp, alertname, give_up):
                led.deliver(ns, pod, fp, alertname, give_up)   # the repeat

    ts = [threading.Thread(target=worker) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    with open(a.ledger + ".storm-done", "w") as f:
        f.write("%d\n" % pods)


def main():
    a = parse_args()
    led = Ledger(a.urls)
    if a.storm:
        led.storm = {"ns": a.storm[0], "alertname": a.storm[1], "pods": a.storm[2]}
    known = []     # (ns, pod, fp, alertname) stored once: candidates for duplicates
    counter = [0]
    start = time.monotonic()
    stop_at = start + a.seconds
    give_up = stop_at + a.drain

    def sending():
        return time.monotonic() < stop_at and not (a.stop_file and os.path.exists(a.stop_file))

    def worker(seed):
        rnd = random.Random(seed)
        while sending():
            with led.lock:
                dup = known and rnd.random() < 0.6
                if dup:
                    ns, pod, fp, alertname = rnd.choice(known)
                else:
                    counter[0] += 1
                    n = counter[0]
            if not dup:
                ns = a.namespaces[n % len(a.namespaces)]
                pod = "%s-%d" % (a.prefix, n)
                alertname = "FaultStream-%d" % n if a.alert_per_pod else "FaultStream"
                fp = led.signal(ns, pod)
            if led.deliver(ns, pod, fp, alertname, give_up) and not dup:
                with led.lock:
                    known.append((ns, pod, fp, alertname))
            time.sleep(0.01)

    ts = [threading.Thread(target=worker, args=(i,)) for i in range(a.threads)]
    if a.storm:
        ts.append(threading.Thread(target=storm_burst, args=(led, a, start, give_up)))
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    led.dump(a.ledger)


if __name__ == "__main__":
    main()
