#!/usr/bin/env bash
# Regenerates the committed golden detections (tests/golden/) from OpenCV DNN, the reference
# runtime. Run from the repository root after building: tools/golden/make-goldens.sh
set -euo pipefail
shared=${XMODAL_SHARED:-$(cd "$(dirname "$0")/../../.." && pwd)/shared}
for image in dog street_nyc_bus_taxi street_intersection_1080p; do
  XMODAL_SHARED=$shared build/tools/xmodal-golden yolox models/yolox_nano.json "$shared/media/$image.jpg" > "tests/golden/yolox_nano_$image.json"
  echo "tests/golden/yolox_nano_$image.json written"
done
