#!/usr/bin/env bash
# scripts/build-demo-page.sh — build the browser chat page (examples/) into examples/dist/, the
# document root the demo serves at / next to the hubs under /Hubs/.
#
# Installs the page's npm packages from its lockfile when they are missing or older than the
# lockfile (npm ci), then runs Vite.  Needs Node.js 20.19+ or 22.12+ (Vite 7; Debian 12's own
# nodejs package is 18, too old) and npm.  Prints the document root on stdout; everything else goes to stderr.
#   DOCROOT=$(scripts/build-demo-page.sh) && ... lighttpd_start ...
# Environment: VITE_DEMO_TOKENS=1 builds the page with the access-token box shown.
set -u -o pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
page=$top/examples
log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

command -v npm >/dev/null 2>&1 || { log "build-demo-page: npm is not installed"; exit 1; }
if ! node -e 'const [a, b] = process.versions.node.split(".").map(Number);
    process.exit((a === 20 && b >= 19) || (a === 22 && b >= 12) || a > 22 ? 0 : 1)'; then
    log "build-demo-page: Node.js $(node --version 2>/dev/null) is too old for Vite 7 (needs 20.19+ or 22.12+)"
    exit 1
fi
cd "$page" || exit 1
stamp=node_modules/.package-lock.json # npm's record of what node_modules holds
if [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ] || [ ! -d node_modules/vite ]; then
    log "build-demo-page: npm ci in examples/"
    npm ci --no-audit --no-fund >&2 || { log "build-demo-page: npm ci failed"; exit 1; }
fi
log "build-demo-page: vite build -> examples/dist/"
npx --no-install vite build --logLevel warn >&2 || { log "build-demo-page: vite build failed"; exit 1; }
[ -f dist/index.html ] || { log "build-demo-page: no dist/index.html after the build"; exit 1; }
echo "$page/dist"
