[ -n "$DEMO_PUBLISH_TOKEN" ] || { echo "error: DEMO_PUBLISH_TOKEN is not set: publishing needs credentials a person must provide" >&2; exit 1; }
