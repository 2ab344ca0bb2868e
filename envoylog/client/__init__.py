"""The HTTP client for Enphase gateways and the Enlighten cloud, on requests.

`gateway_client(host, credentials)` builds the client every command uses (certificate
pinning included); its `get(path)` returns an `HttpResponse` for any HTTP status within
a deadline and raises only `envoylog.errors` exceptions: requests and urllib3 exceptions
never leave this package. `envoylog.client.enlighten.fetch_token` gets a token from the
Enlighten cloud.
"""

from envoylog.client.credentials import Credentials, Secret, read_token_file, save_token
from envoylog.client.gateway import GatewayClient, gateway_client
from envoylog.client.pinning import PinStore
from envoylog.client.response import HttpResponse
from envoylog.client.tokens import token_expiry

__all__ = [
    "Credentials",
    "GatewayClient",
    "HttpResponse",
    "PinStore",
    "Secret",
    "gateway_client",
    "read_token_file",
    "save_token",
    "token_expiry",
]
