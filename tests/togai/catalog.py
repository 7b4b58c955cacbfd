"""Customers, accounts, event schemas, usage meters and invoices through the
official client (see common.py for how this script is run)."""

from togai_client import (
    AccountsApi,
    CreateAccountRequest,
    CreateCustomerRequest,
    CreateEventSchemaRequest,
    CreateUsageMeterRequest,
    CustomersApi,
    EventSchemasApi,
    InvoicesApi,
    UsageMetersApi,
)
from togai_client.models.address import Address

from common import check, client, refused

api = client()
customers = CustomersApi(api)
accounts = AccountsApi(api)

created = customers.create_customer(
    CreateCustomerRequest(
        id="initech",
        name="Initech Corp",
        primary_email="billing@initech.test",
        address=Address(line1="1 Main St", city="Austin", postal_code="73301", country="US"),
    )
)
check(created.id == "initech", f"created customer id: {created!r}")
check(created.billing_address == "1 Main St, 73301, Austin, US", f"billing address: {created!r}")

got = customers.get_customer("initech")
check(got.name == "Initech Corp" and got.status == "ACTIVE", f"customer: {got!r}")
refused(409, customers.create_customer, CreateCustomerRequest(
    id="initech", name="Again", primary_email="a@b.test", address=Address(country="US")))
refused(404, customers.get_customer, "nobody")

for i in range(3):
    customers.create_customer(CreateCustomerRequest(
        id=f"c{i}", name=f"Customer {i}", primary_email=f"c{i}@x.test", address=Address(country="US")))
page = customers.get_customers(page_size=2)
ids = [c.id for c in page.data]
check(ids == ["c0", "c1"], f"first page: {ids}")
page = customers.get_customers(page_size=2, next_token=page.next_token)
ids = [c.id for c in page.data]
check(ids == ["c2", "initech"], f"second page: {ids}")

account = accounts.create_account(
    CreateAccountRequest(id="initech-main", name="Initech main", customer_id="initech",
                         invoice_currency="USD")
)
check(account.id == "initech-main", f"account: {account!r}")
got = accounts.get_account("initech-main")
check(got.customer_id == "initech", f"account's customer: {got!r}")

schemas = EventSchemasApi(api)
schema = schemas.create_event_schema(CreateEventSchemaRequest.from_dict({
    "name": "api_call",
    "attributes": [{"name": "tokens"}],
    "dimensions": [{"name": "model"}],
}))
check(schema.name == "api_call", f"schema: {schema!r}")
listed = schemas.list_event_schemas()
check("api_call" in [s.name for s in listed.data], f"schemas: {listed!r}")

meters = UsageMetersApi(api)
meter = meters.create_usage_meter(CreateUsageMeterRequest.from_dict({
    "name": "Tokens",
    "type": "COUNTER",
    "aggregation": "SUM",
    "computations": [{"computation": "tokens", "order": 1}],
    "eventSchemaName": "api_call",
}))
check(meter.id == "tokens" and meter.aggregation == "SUM", f"meter: {meter!r}")

invoices = InvoicesApi(api).list_invoices()
check(invoices.data == [], f"no invoices yet: {invoices!r}")
print("catalog: ok")
