#!/bin/sh
# The channel examples (docs/channels.md); a fake or real model via AGENTHOST_MODEL.
python examples/channels/cron_to_webhook.py
agenthost channels run --config examples/channels/agenthost.yaml
