"""A stand-in for the Hugging Face Hub's HTTP API on 127.0.0.1, for testing deploys offline.

It answers the calls `HfApi` makes to create a Space, upload files (preupload, then an NDJSON
commit with the files inline), and set secrets and variables; it records every request.
Anything else gets a 404 and is recorded too, so a test sees unexpected calls.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class HubStub:
    def __init__(self):
        self.requests: list[dict] = []
        self.validated: list[tuple[str, list[str]]] = []  # (repo type, missing card fields) per README checked
        self.repos: dict[str, dict] = {}  # repo_id -> {"type", "sdk", "private", "files", "secrets", "variables"}
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _reply(self, code: int, body) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                stub.requests.append({"method": "GET", "path": self.path, "auth": self.headers.get("Authorization")})
                m = re.match(r"^/api/whoami-v2", self.path)
                if m:
                    return self._reply(
                        200, {"name": "alice", "type": "user", "auth": {"accessToken": {"role": "write"}}}
                    )
                self._reply(404, {"error": f"stub: no GET {self.path}"})

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                req = {"method": "POST", "path": self.path, "auth": self.headers.get("Authorization"), "raw": raw}
                stub.requests.append(req)
                path = self.path.split("?")[0]
                if path == "/api/validate-yaml":
                    # The Hub checks a Space card's front matter before accepting the README.
                    body = json.loads(raw)
                    front = re.match(r"^---\n(.*?)\n---\n", body["content"], re.S)
                    fields = (
                        dict(line.split(": ", 1) for line in front.group(1).splitlines() if ": " in line)
                        if front
                        else {}
                    )
                    missing = [
                        k
                        for k in ("sdk", "sdk_version", "app_file", "license", "short_description")
                        if not fields.get(k)
                    ]
                    stub.validated.append((body.get("repoType"), missing))
                    if missing:
                        return self._reply(400, {"errors": [{"message": f"missing {k}"} for k in missing]})
                    return self._reply(200, {"errors": [], "warnings": []})
                if path == "/api/repos/create":
                    body = json.loads(raw)
                    repo_id = f"{body['organization']}/{body['name']}" if body.get("organization") else body["name"]
                    stub.repos.setdefault(
                        repo_id,
                        {
                            "type": body.get("type"),
                            "sdk": body.get("sdk"),
                            "visibility": body.get("visibility"),
                            "files": {},
                            "secrets": {},
                            "variables": {},
                        },
                    )
                    return self._reply(200, {"url": f"{stub.url}/spaces/{repo_id}", "name": repo_id, "id": repo_id})
                m = re.match(r"^/api/spaces/([^/]+/[^/]+)/(preupload|commit|secrets|variables)(?:/(.+))?$", path)
                if not m or m.group(1) not in stub.repos:
                    return self._reply(404, {"error": f"stub: no POST {path}"})
                repo = stub.repos[m.group(1)]
                kind = m.group(2)
                if kind == "preupload":
                    files = json.loads(raw)["files"]
                    return self._reply(
                        200,
                        {
                            "files": [
                                {"path": f["path"], "uploadMode": "regular", "shouldIgnore": False, "oid": None}
                                for f in files
                            ]
                        },
                    )
                if kind == "commit":
                    for line in raw.splitlines():
                        item = json.loads(line)
                        if item.get("key") == "file":
                            repo["files"][item["value"]["path"]] = base64.b64decode(item["value"]["content"])
                    return self._reply(
                        200,
                        {
                            "commitUrl": f"{stub.url}/spaces/{m.group(1)}/commit/{'a' * 40}",
                            "commitOid": "a" * 40,
                            "pullRequestUrl": None,
                        },
                    )
                body = json.loads(raw)
                repo[kind][body["key"]] = body.get("value")
                return self._reply(200, {})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
