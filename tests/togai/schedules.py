"""Account schedules (plan associations) and /aliases through the official client
(see common.py for how this script is run). The organisation has the finalized plan
`growth` (tests/it/http/togai.rs)."""

import datetime

from togai_client import (
    AccountsApi,
    AddAccountAliasesRequest,
    AliasesApi,
    AssociationConfig,
    CreateAccountRequest,
    CreateAliasRequest,
    CreateBulkAliasRequest,
    CreateCustomerRequest,
    CustomersApi,
    EditAccountScheduleRequest,
    FinalizeAccountSchedules,
    SchedulesApi,
    UpdateAccountScheduleV2Request,
)
from togai_client.models.address import Address

from common import check, client, refused

api = client()
CustomersApi(api).create_customer(
    CreateCustomerRequest(id="initech", name="Initech Corp", primary_email="b@initech.test",
                          address=Address(country="US"))
)
accounts = AccountsApi(api)
accounts.create_account(
    CreateAccountRequest(id="a1", name="Initech main", customer_id="initech",
                         invoice_currency="USD")
)

schedules = SchedulesApi(api)
edited = schedules.bulk_edit_schedules(
    "a1",
    EditAccountScheduleRequest(edits=[UpdateAccountScheduleV2Request(
        mode="ASSOCIATE",
        effective_from=datetime.date(2026, 1, 1),
        effective_until=datetime.date(9999, 12, 31),
        association_config=AssociationConfig(price_plan_id="growth"),
    )]),
)
check(edited.account_id == "a1" and edited.account_name == "Initech main", f"edited: {edited!r}")
check([s.price_plan_id for s in edited.pricing_schedules] == ["growth"], f"edited: {edited!r}")
check(edited.pricing_schedules[0].start_date.date() == datetime.date(2026, 1, 1),
      f"start: {edited!r}")
done = schedules.finalize_account_schedules("a1", FinalizeAccountSchedules())
check([x.price_plan_id for x in done.data] == ["growth"], f"finalize: {done!r}")

listed = schedules.listaccount_schedules("a1", mode="ACTIVE")
check(len(listed.data) == 1, f"schedules: {listed!r}")
s = listed.data[0]
check(s.price_plan_id == "growth" and s.version == 1 and s.account_id == "a1", f"schedule: {s!r}")
check(s.account_schedule_info.supported_currencies == ["USD"], f"schedule info: {s!r}")
check(s.end_date.year == 9999, f"open-ended: {s!r}")
drafts = schedules.listaccount_schedules("a1", mode="DRAFT")
check(drafts.data == [], f"drafts: {drafts!r}")
refused(404, schedules.listaccount_schedules, "nobody", mode="ACTIVE")
refused(400, schedules.bulk_edit_schedules, "a1", EditAccountScheduleRequest(edits=[
    UpdateAccountScheduleV2Request(
        mode="DISASSOCIATE",
        effective_from=datetime.date(2026, 6, 1),
        effective_until=datetime.date(9999, 12, 31),
    )]))

accounts.add_aliases("a1", AddAccountAliasesRequest(aliases=["dev-1", "dev-2"]))
aliases = AliasesApi(api)
page = aliases.list_aliases()
check([a.value for a in page.data] == ["dev-1", "dev-2"], f"aliases: {page!r}")
one = aliases.get_alias("dev-1")
check(one.value == "dev-1", f"alias: {one!r}")
refused(404, aliases.get_alias, "nobody")
refused(400, aliases.create_alias, CreateBulkAliasRequest(aliases=[CreateAliasRequest(value="x")]))
refused(400, aliases.delete_alias, "dev-1")
print("schedules.py: ok")
