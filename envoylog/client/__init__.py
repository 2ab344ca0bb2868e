"""The HTTP client for Enphase gateways and the Enlighten cloud.

`GatewayClient(host).get(path)` returns an `HttpResponse` for any HTTP status and
raises only `envoylog.errors` exceptions; `requests` exceptions never leave this package.
"""

from envoylog.client.credentials import Credentials, Secret, read_token_file, save_token
from envoylog.client.enlighten import fetch_token
from envoylog.client.gateway import GatewayClient
from envoylog.client.pinning import PinStore
from envoylog.client.response import HttpResponse
from envoylog.client.tokens import token_expiry

__all__ = [
    "Credentials",
    "GatewayClient",
    "HttpResponse",
    "PinStore",
    "Secret",
    "fetch_token",
    "read_token_file",
    "save_token",
    "token_expiry",
]
