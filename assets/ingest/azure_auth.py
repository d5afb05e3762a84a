"""Credentials and endpoints shared by the Azure kinds (storage containers, the Cost Management Query API)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

LOOPBACK = ("127.0.0.1", "localhost", "::1")
"""Hosts that plain http may go to (an emulator, recorded responses): never with a token for blobs."""


def credential_chain() -> TokenCredential:
    """Azure's standard credential chain (environment, workload or managed identity, Azure CLI, …)."""
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential()
