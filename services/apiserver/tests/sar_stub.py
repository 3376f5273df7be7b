#!/usr/bin/env python3
"""A stand-in kube-apiserver for the SubjectAccessReview client test: HTTPS on
127.0.0.1:PORT with CERT/KEY; allows only user alice to `get`, and only with
the bearer token t0k. Also serves ConfigMap kube-system/extension-apiserver-
authentication (CERT as both CA bundles) and a variant, bad-headers, whose
front proxy sends X-Other-User. Usage: sar_stub.py PORT CERT KEY"""
import http.server
import json
import ssl
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        spec = body.get("spec", {})
        ok = (self.path == "/apis/authorization.k8s.io/v1/subjectaccessreviews"
              and self.headers.get("Authorization") == "Bearer t0k"
              and body.get("kind") == "SubjectAccessReview"
              and spec.get("user") == "alice"
              and "dev" in spec.get("groups", [])
              and spec.get("resourceAttributes", {}).get("verb") == "get")
        out = json.dumps({"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
                          "status": {"allowed": ok, "reason": "stub says " + ("yes" if ok else "no")}}).encode()
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def do_GET(self):
        prefix = "/api/v1/namespaces/kube-system/configmaps/"
        name = self.path[len(prefix):] if self.path.startswith(prefix) else ""
        if self.headers.get("Authorization") != "Bearer t0k":
            self.reply(401, {"kind": "Status", "code": 401})
            return
        if name not in ("extension-apiserver-authentication", "bad-headers"):
            self.reply(404, {"kind": "Status", "code": 404})
            return
        pem = open(sys.argv[2]).read()
        user = "X-Remote-User" if name != "bad-headers" else "X-Other-User"
        self.reply(200, {"apiVersion": "v1", "kind": "ConfigMap",
                         "metadata": {"name": name, "namespace": "kube-system"},
                         "data": {"client-ca-file": pem,
                                  "requestheader-client-ca-file": pem,
                                  "requestheader-allowed-names": '["front-proxy-client","aggregator"]',
                                  "requestheader-username-headers": json.dumps([user]),
                                  "requestheader-group-headers": '["X-Remote-Group"]',
                                  "requestheader-extra-headers-prefix": '["X-Remote-Extra-"]'}})

    def reply(self, code, doc):
        out = json.dumps(doc).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args):
        pass


class Server(http.server.HTTPServer):
    def get_request(self):
        sock, addr = self.socket.accept()
        try:
            return ctx.wrap_socket(sock, server_side=True), addr
        except (ssl.SSLError, OSError) as err:
            print("handshake failed:", err, file=sys.stderr, flush=True)
            sock.close()
            raise


ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[2], sys.argv[3])
server = Server(("127.0.0.1", int(sys.argv[1])), Handler)
print("ready", flush=True)
server.serve_forever()
