"""A webhook receiver that checks signatures with verifiers nobody on this project wrote.

- Standard Webhooks: the `standardwebhooks` package from PyPI (the reference library).
- W&B's X-Wandb-Signature: the recipe of W&B's documentation,
  `openssl dgst -sha256 -hmac SECRET -binary | base64`, run on the raw body.

Usage: verify_receiver.py SECRET STANDARD_KEY_MODE
  STANDARD_KEY_MODE is `whsec` (pass the secret string to Webhook(), which decodes whsec_...) or
  `raw` (pass the secret's UTF-8 bytes, for a secret that is not whsec_...).

Prints `listening PORT` on its first line, then one JSON line per request received:
{"webhook_id", "standard_ok", "standard_error", "wandb_ok", "body"}; answers 204 when both
signatures verify, 401 otherwise.
"""

import http.server
import json
import subprocess
import sys

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

SECRET = sys.argv[1]
MODE = sys.argv[2]
HOOK = Webhook(SECRET) if MODE == "whsec" else Webhook(SECRET.encode())


def wandb_signature(body: bytes) -> str:
    digest = subprocess.run(
        ["openssl", "dgst", "-sha256", "-hmac", SECRET, "-binary"], input=body, capture_output=True, check=True
    ).stdout
    return subprocess.run(["base64"], input=digest, capture_output=True, check=True).stdout.decode().strip()


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        headers = {k: v for k, v in self.headers.items()}
        record = {"webhook_id": self.headers.get("webhook-id"), "body": body.decode()}
        try:
            HOOK.verify(body, headers)
            record["standard_ok"] = True
        except WebhookVerificationError as e:
            record["standard_ok"] = False
            record["standard_error"] = str(e)
        record["wandb_ok"] = self.headers.get("X-Wandb-Signature") == wandb_signature(body)
        print(json.dumps(record), flush=True)
        self.send_response(204 if record["standard_ok"] and record["wandb_ok"] else 401)
        self.end_headers()

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(f"listening {server.server_address[1]}", flush=True)
server.serve_forever()
