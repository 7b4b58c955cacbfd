"""Authentication refusals through the official client (see common.py for how this
script is run): without a token and with a wrong one, the client's typed calls raise
401 with Togai's error body (`{"message": ...}`); another organisation's or an unknown
id raises 404 in the same shape."""

import json
import os

import togai_client
from togai_client import (AccountsApi, AuthenticationApi, CreateCustomerRequest, CustomersApi,
                          InvoicesApi)
from togai_client.models.address import Address

from common import check, client, refused


def client_with(token):
    """An ApiClient for the server under test with `token` (None: no credential)."""
    config = togai_client.Configuration(host=os.environ["BILLRUN_URL"], access_token=token)
    return togai_client.ApiClient(config)


def togai_error(e) -> None:
    body = json.loads(e.body)
    check(list(body.keys()) == ["message"] and body["message"], f"Togai's error shape: {e.body}")


good = os.environ["BILLRUN_TOKEN"]
wrong = good[:-1] + ("1" if good.endswith("0") else "0")
new_customer = CreateCustomerRequest(
    id="c1", name="Initech", primary_email="billing@initech.test", address=Address(country="US"))

for token in [None, wrong, "brs_" + "0" * 64]:
    api = client_with(token)
    for call, args in [
        (CustomersApi(api).get_customers, ()),
        (CustomersApi(api).get_customer, ("c1",)),
        (CustomersApi(api).create_customer, (new_customer,)),
        (AccountsApi(api).get_accounts, ()),
        (InvoicesApi(api).list_invoices, ()),
    ]:
        togai_error(refused(401, call, *args))

# The client's authenticate() (no body, the API token as bearer) gives a session token
# that acts as the token; called with that session, it answers the same one.
session = AuthenticationApi(client()).authenticate().token
check(session.startswith("brs_") and session != good, f"a session token: {session[:4]}...")
check(CustomersApi(client_with(session)).get_customers().data == [], "the session reads")
check(AuthenticationApi(client_with(session)).authenticate().token == session, "the same session")
togai_error(refused(401, AuthenticationApi(client_with(wrong)).authenticate))

api = client()
customers = CustomersApi(api)
check(customers.get_customers().data == [], "nothing was created by the refused calls")
for call, arg in [
    (customers.get_customer, "nobody"),
    (AccountsApi(api).get_account, "nobody"),
    (InvoicesApi(api).get_invoice, "nobody"),
]:
    togai_error(refused(404, call, arg))
print("ok")
