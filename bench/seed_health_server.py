"""
The seed's health server (seeds/000, oyster/infra/dispatch/health.py) for bench/health.ts:
stdlib only, the same single-threaded HTTPServer serving /health (JSON) and /metrics
(dispatch_daemon_* lines) from a background thread, while the main thread plays the daemon
loop and calls heartbeat() every 200 ms.

Differences from the seed, all needed to run it at all or to bench it:
  - `import os` (the seed calls os.getpid() without importing os);
  - /metrics computes `age` and `healthy` itself (the seed's branch uses them unbound and
    raises NameError on every scrape);
  - binds 127.0.0.1 instead of 0.0.0.0, takes the port on argv (0 = any free port) and prints
    the port it bound on stdout.

    python3 bench/seed_health_server.py [PORT]
"""
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer


class HealthHandler(BaseHTTPRequestHandler):
    def do_GET(self):
        age = time.time() - self.server.last_heartbeat
        healthy = age < self.server.unhealthy_after
        if self.path == "/health":
            status = 200 if healthy else 503
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(json.dumps({
                "status": "healthy" if healthy else "unhealthy",
                "service": self.server.service_name,
                "uptime": int(time.time() - self.server.start_time),
                "last_heartbeat_age": int(age),
                "cycle_count": self.server.cycle_count,
                "pid": os.getpid(),
            }).encode())
        elif self.path == "/metrics":
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            name = self.server.service_name
            lines = [
                f'dispatch_daemon_up{{service="{name}"}} {1 if healthy else 0}',
                f'dispatch_daemon_uptime{{service="{name}"}} {int(time.time() - self.server.start_time)}',
                f'dispatch_daemon_cycles{{service="{name}"}} {self.server.cycle_count}',
                f'dispatch_daemon_heartbeat_age{{service="{name}"}} {int(age)}',
            ]
            self.wfile.write("\n".join(lines).encode())

    def log_message(self, format, *args):
        pass


class HealthServer:
    def __init__(self, port, name, unhealthy_after=600):
        self.port = port
        self.name = name
        self.server = HTTPServer(("127.0.0.1", port), HealthHandler)
        self.server.service_name = name
        self.server.last_heartbeat = time.time()
        self.server.start_time = time.time()
        self.server.cycle_count = 0
        self.server.unhealthy_after = unhealthy_after

    def start(self):
        t = threading.Thread(target=self.server.serve_forever, daemon=True)
        t.start()

    def heartbeat(self):
        self.server.last_heartbeat = time.time()
        self.server.cycle_count += 1


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    hs = HealthServer(port=port, name="dispatch")
    hs.start()
    print(hs.server.server_address[1], flush=True)
    try:
        while True:
            time.sleep(0.2)
            hs.heartbeat()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
