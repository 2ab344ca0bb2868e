"""The HTTP client for Enphase gateways and the Enlighten cloud.

`GatewayClient(host).get(path)` returns an `HttpResponse` for any HTTP status and
raises only `envoylog.errors` exceptions; `requests` exceptions never leave this package.
`envoylog.client.enlighten.fetch_token` gets a token from the Enlighten cloud (it is not
imported here: it loads requests, which gateway polling does without).
"""

from envoylog.client.credentials import Credentials, Secret, read_token_file, save_token
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
    "read_token_file",
    "save_token",
    "token_expiry",
]
