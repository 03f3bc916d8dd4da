#!/usr/bin/env bash
# Re-creates service/dashboard/vendor/ (the dashboard's chart library) from the npm registry.
# Run by hand when upgrading uPlot; nothing runs it at build or run time, and the dashboard
# fetches nothing from outside: the files it writes are committed.
#
#   ./scripts/vendor-dashboard.sh            # the pinned version below
#   UPLOT_VERSION=1.6.33 ./scripts/vendor-dashboard.sh
set -euo pipefail
cd "$(dirname "$0")/.."

UPLOT_VERSION="${UPLOT_VERSION:-1.6.32}"
VENDOR=service/dashboard/vendor
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# npm pack verifies the tarball against the registry's integrity hash as it downloads it.
(cd "$WORK" && npm pack --silent "uplot@${UPLOT_VERSION}" >/dev/null && tar xzf "uplot-${UPLOT_VERSION}.tgz")
PACKAGE="$WORK/package"

mkdir -p "$VENDOR"
cp "$PACKAGE/dist/uPlot.iife.min.js" "$VENDOR/uPlot.iife.min.js"
cp "$PACKAGE/dist/uPlot.min.css" "$VENDOR/uPlot.min.css"
cp "$PACKAGE/LICENSE" "$VENDOR/uPlot.LICENSE"

{
  echo "uPlot ${UPLOT_VERSION} (MIT, see uPlot.LICENSE), from the npm registry: npm pack uplot@${UPLOT_VERSION}"
  echo "https://github.com/leeoniya/uPlot — re-create with scripts/vendor-dashboard.sh"
  echo
  (cd "$VENDOR" && sha256sum uPlot.iife.min.js uPlot.min.css uPlot.LICENSE)
} > "$VENDOR/VERSION"
echo "vendored uPlot ${UPLOT_VERSION} into ${VENDOR}"
