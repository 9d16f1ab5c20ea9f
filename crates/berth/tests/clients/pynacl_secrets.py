"""A libsodium client that knows nothing of Berth but GitHub's Codespaces secrets API.

Creates, updates, lists and deletes a secret at each level (user, repository, organization),
sealing values with PyNaCl's SealedBox (crypto_box_seal). Leaves one secret per level whose value
is VALUE_PREFIX + level, for the caller's at-rest scan. Environment: BASE (server URL), TOKEN,
REPO (OWNER/NAME), ORG, VALUE_PREFIX.
"""
import base64
import json
import os
import sys
import urllib.error
import urllib.request

from nacl.public import PublicKey, SealedBox

BASE = os.environ["BASE"].rstrip("/") + "/api/v3"
TOKEN = os.environ["TOKEN"]


def call(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(BASE + path, data=data, method=method)
    req.add_header("Authorization", "Bearer " + TOKEN)
    req.add_header("Accept", "application/vnd.github+json")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req) as r:
            text = r.read()
            return r.status, json.loads(text) if text else None
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def expect(got, want, what):
    if got != want:
        sys.exit(f"{what}: got {got!r}, want {want!r}")


def seal(base, value):
    status, key = call("GET", base + "/public-key")
    expect(status, 200, "public key")
    box = SealedBox(PublicKey(base64.b64decode(key["key"])))
    return {
        "encrypted_value": base64.b64encode(box.encrypt(value.encode())).decode(),
        "key_id": key["key_id"],
    }


def names(base):
    status, body = call("GET", base)
    expect(status, 200, "list " + base)
    expect(body["total_count"], len(body["secrets"]), "total_count")
    return sorted(s["name"] for s in body["secrets"])


status, repo = call("GET", "/repos/" + os.environ["REPO"])
expect(status, 200, "repository")
prefix = os.environ["VALUE_PREFIX"]
levels = {
    "user": ("/user/codespaces/secrets", {"selected_repository_ids": [str(repo["id"])]}),
    "repository": ("/repos/" + os.environ["REPO"] + "/codespaces/secrets", {}),
    "organization": (
        "/orgs/" + os.environ["ORG"] + "/codespaces/secrets",
        {"visibility": "selected", "selected_repository_ids": [repo["id"]]},
    ),
}
for level, (base, extra) in levels.items():
    status, _ = call("PUT", base + "/py_temp", {**seal(base, "temporary"), **extra})
    expect(status, 201, level + " create")
    status, _ = call("PUT", base + "/PY_TEMP", {**seal(base, "changed"), **extra})
    expect(status, 204, level + " update")
    status, one = call("GET", base + "/PY_TEMP")
    expect((status, one["name"]), (200, "PY_TEMP"), level + " get")
    status, _ = call("PUT", base + "/PY_KEEP", {**seal(base, prefix + level), **extra})
    expect(status, 201, level + " create kept")
    expect(names(base), ["PY_KEEP", "PY_TEMP"], level + " list")
    status, _ = call("DELETE", base + "/PY_TEMP")
    expect(status, 204, level + " delete")
    expect(names(base), ["PY_KEEP"], level + " list after delete")
    bad = seal(base, "x")
    bad["encrypted_value"] = base64.b64encode(b"not a sealed box" * 4).decode()
    status, err = call("PUT", base + "/PY_BAD", {**bad, **extra})
    expect(status, 422, level + " a value that does not open")
    if "does not open" not in err["errors"][0]["message"]:
        sys.exit("the error does not say the value does not open: " + json.dumps(err))

status, preview = call("GET", "/repos/" + os.environ["REPO"] + "/codespaces/environment-secrets")
expect(preview["secrets"], [{"name": "PY_KEEP", "source": "user"}], "preview")
print("pynacl client: ok")
