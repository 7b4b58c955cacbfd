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
    UpdateEventSchemaRequest,
    UpdateUsageMeterRequest,
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

# A meter with a computation (JSON-logic matcher and computation): the client
# validates the answer's `computations` (at most one: Togai's UsageMeter); two, or one
# that does not parse, are a 400 naming the index (and the position).
large = '{"==": [{"var": "dimensions.model"}, "large"]}'
double = '{"*": [{"var": "attributes.tokens"}, 2]}'
computed = meters.create_usage_meter(CreateUsageMeterRequest.from_dict({
    "name": "Large tokens",
    "type": "COUNTER",
    "aggregation": "SUM",
    "computations": [{"id": "large", "matcher": large, "computation": double, "order": 1}],
    "eventSchemaName": "api_call",
}))
check(computed.id == "large_tokens"
      and [(c.id, c.matcher, c.computation, c.order) for c in computed.computations]
      == [("large", large, double, 1)], f"computed meter: {computed!r}")
two = refused(400, meters.create_usage_meter, CreateUsageMeterRequest.from_dict({
    "name": "Two tokens",
    "type": "COUNTER",
    "aggregation": "SUM",
    "computations": [{"matcher": large, "computation": double, "order": 1},
                     {"computation": "tokens", "order": 2}],
    "eventSchemaName": "api_call",
}))
check("computations[1]" in two.body, f"two computations: {two.body}")
bad = refused(400, meters.create_usage_meter, CreateUsageMeterRequest.from_dict({
    "name": "Bad tokens",
    "type": "COUNTER",
    "aggregation": "SUM",
    "computations": [{"matcher": large, "computation": "{\"*\": [2", "order": 1}],
    "eventSchemaName": "api_call",
}))
check("computations[0].computation" in bad.body and "column" in bad.body, f"bad meter: {bad.body}")
check(meters.delete_usage_meter("large_tokens").success, "computed meter deleted")

# A schema grows by versions (additions only) and answers its versions.
got = schemas.get_event_schema("api_call")
check(got.version == 1 and got.status == "ACTIVE", f"schema v1: {got!r}")
grown = schemas.event_schema_event_schema_name_patch("api_call", UpdateEventSchemaRequest.from_dict({
    "attributes": [{"name": "tokens"}, {"name": "cost"}],
}))
check(grown.version == 2 and [a.name for a in grown.attributes] == ["tokens", "cost"],
      f"schema v2: {grown!r}")
refused(409, schemas.event_schema_event_schema_name_patch, "api_call",
        UpdateEventSchemaRequest.from_dict({"attributes": [{"name": "cost"}]}))
versions = schemas.list_event_schema_versions("api_call")
check([(v.version, v.status) for v in versions.data] == [(1, "ARCHIVED"), (2, "ACTIVE")],
      f"versions: {versions!r}")
old = schemas.get_event_schema("api_call", version=1)
check(old.status == "ARCHIVED" and [a.name for a in old.attributes] == ["tokens"],
      f"version 1: {old!r}")
refused(404, schemas.get_event_schema, "nothing")
# The ACTIVE meter "tokens" measures it: it cannot be deactivated.
refused(409, schemas.deactivate_event_schema, "api_call")

# A meter: read with its schema, renamed (its id stays), deactivated and activated.
got = meters.get_usage_meter("tokens", include_schema=True)
check(got.event_schema is not None and got.event_schema.name == "api_call"
      and got.event_schema.version == 2, f"meter with schema: {got!r}")
renamed = meters.update_usage_meter("tokens", UpdateUsageMeterRequest.from_dict({"name": "LLM tokens"}))
check(renamed.id == "tokens" and renamed.display_name == "LLM tokens", f"renamed: {renamed!r}")
off = meters.deactivate_usage_meter("tokens")
check(off.status == "INACTIVE", f"deactivated meter: {off!r}")
inactive = meters.get_usage_meters_for_event_schema(status="INACTIVE")
check([m.id for m in inactive.data] == ["tokens"], f"INACTIVE meters: {inactive!r}")
off = schemas.deactivate_event_schema("api_call")
check(off.status == "INACTIVE", f"deactivated schema: {off!r}")
inactive = schemas.list_event_schemas(status="INACTIVE")
check([s.name for s in inactive.data] == ["api_call"], f"INACTIVE schemas: {inactive!r}")
refused(409, meters.activate_usage_meter, "tokens")
on = schemas.activate_event_schema("api_call")
check(on.status == "ACTIVE", f"activated schema: {on!r}")
on = meters.activate_usage_meter("tokens")
check(on.status == "ACTIVE", f"activated meter: {on!r}")

# What nothing uses is deleted.
scratch = meters.create_usage_meter(CreateUsageMeterRequest.from_dict({
    "name": "Scratch count", "type": "COUNTER", "aggregation": "COUNT",
    "eventSchemaName": "api_call",
}))
check(meters.delete_usage_meter(scratch.id).success, "meter deleted")
refused(404, meters.get_usage_meter, scratch.id)
schemas.create_event_schema(CreateEventSchemaRequest.from_dict({
    "name": "scratch", "attributes": [], "dimensions": [],
}))
check(schemas.delete_event_schema("scratch").success, "schema deleted")
refused(404, schemas.get_event_schema, "scratch")

invoices = InvoicesApi(api).list_invoices()
check(invoices.data == [], f"no invoices yet: {invoices!r}")
print("catalog: ok")
