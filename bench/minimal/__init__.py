"""Minimal handlers for the cold-start comparison (``bench/coldstart.py``): per function, a few lines of plain
boto3 (and requests) that make the same AWS and HTTP calls as the real handler's first invocation on its
sample event (same services, operations, resources and endpoints, same number of calls), and nothing else:
no Powertools, no layer code. Clients and sessions are created at init, as AWS recommends: those the
function's usual invocation uses (the webhook's SQS client too: a signed request is queued, though the sample,
signed long ago, is refused before). The bench checks that both sides made the same calls before it
compares their times.

Each module reads the variables the deployed function gets (the local stack's env file)."""
