"""browser-tasks: the browser-use Cloud v1 task API on your own AWS account.

Layers, imports pointing down only: handlers (``functions/*/app.py``) → ``domain`` (rules,
no boto3) → ``adapters`` (AWS). ``models`` holds the shapes all three share; ``local`` and
``cli`` are developer tooling, never imported by Lambda code.
"""
