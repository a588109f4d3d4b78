"""The rules: task lifecycle, keys, limits. Talks to ports, never to boto3."""
