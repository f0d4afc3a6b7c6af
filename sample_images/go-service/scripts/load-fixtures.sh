#!/bin/sh
# Load testdata/items.json into a running inventory service (default http://localhost:8080).
set -eu
base=${1:-http://localhost:8080}
python3 -c 'import json,sys; [print(json.dumps(i)) for i in json.load(open("testdata/items.json"))]' |
while read -r item; do
    curl -fsS -X PUT -H 'Content-Type: application/json' -d "$item" "$base/items" >/dev/null
done
echo "loaded $(python3 -c 'import json; print(len(json.load(open("testdata/items.json"))))') items into $base"
