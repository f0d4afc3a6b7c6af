"""Images read straight from a registry (Docker Registry HTTP API v2 / OCI distribution),
with no container engine: ``registry://HOST[:PORT]/REPO[:TAG|@sha256:…]`` or skopeo's
``docker://…``.

reference.py parses the name, credentials.py finds credentials as the Docker CLI does,
transport.py speaks HTTP(S) to the registry (TLS, auth, redirects, retries), image.py
resolves manifests and the config, and blobs.py streams layer blobs into the index.
Nothing is imported here: requests loads only when a registry image is opened.
"""

