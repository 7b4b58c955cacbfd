"""Account aliases, credits, license updates, settings, a customer created with its
account, and customers and accounts that change (update, contacts, delete), through the
official client (see common.py for how this script is run). The organisation has a plan
with the license rate card "seats"."""

from datetime import date, datetime, timezone

from togai_client import (
    AccountsApi,
    AccountsBillingInformation,
    CreateCustomerContactRequest,
    InvoicesApi,
    LicenseEntryDetailsUpdateRequest,
    SchedulesApi,
    UpdateAccountRequest,
    UpdateCustomerRequest,
    AddAccountAliasesRequest,
    CreateAccountAliasRequest,
    CreateAccountRequestWithoutCustomerId,
    CreateCreditRequest,
    CreateCustomerRequest,
    CreditRequest,
    CreditsApi,
    CustomersApi,
    LicensesApi,
    LicenseUpdateRequest,
    RemoveAccountAliasesRequest,
    RemoveAccountAliasRequest,
    Setting,
    SettingDataType,
    SettingsApi,
    UpdateSettingRequest,
)
from togai_client.models.address import Address

from common import check, client, refused

api = client()
customers = CustomersApi(api)
accounts = AccountsApi(api)


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


# A customer with its account and an alias, in one call.
created = customers.create_customer(
    CreateCustomerRequest(
        id="initech",
        name="Initech Corp",
        primary_email="billing@initech.test",
        address=Address(country="US"),
        account=CreateAccountRequestWithoutCustomerId(
            id="initech-main",
            name="Initech main",
            invoice_currency="USD",
            account_aliases=[CreateAccountAliasRequest(value="dev-1", effective_from=utc(2026, 1, 1))],
        ),
    )
)
check(created.account is not None and created.account.id == "initech-main", f"inline account: {created!r}")
check(created.account.customer_id == "initech", f"inline account's customer: {created!r}")
refused(400, customers.create_customer, CreateCustomerRequest(
    id="umbrella", name="Umbrella", primary_email="a@b.test", address=Address(country="US"),
    account=CreateAccountRequestWithoutCustomerId(id="umbrella-main", name="Umbrella main",
                                                  invoice_currency="GBP")))
refused(404, customers.get_customer, "umbrella")

# Aliases: add, move to a second account, remove.
customers.create_customer(CreateCustomerRequest(
    id="globex", name="Globex Corp", primary_email="ap@globex.test", address=Address(country="US"),
    account=CreateAccountRequestWithoutCustomerId(id="globex-main", name="Globex main")))
account = accounts.add_aliases("initech-main", AddAccountAliasesRequest(aliases=["dev-2"]))
check(sorted(a.alias for a in account.aliases) == ["dev-1", "dev-2"], f"aliases: {account!r}")
accounts.add_aliases("globex-main", AddAccountAliasesRequest(
    account_aliases=[CreateAccountAliasRequest(value="dev-1", effective_from=utc(2026, 3, 1))]))
ranges = accounts.list_account_aliases("initech-main").data
dev1 = [r for r in ranges if r.value == "dev-1"][0]
check(dev1.effective_until == utc(2026, 3, 1), f"dev-1 moved on 1 March: {ranges!r}")
moved = accounts.list_account_aliases("globex-main").data[0]
check(moved.effective_until.year == 9999, f"open-ended range: {moved!r}")
accounts.remove_aliases("globex-main", RemoveAccountAliasesRequest(
    account_aliases=[RemoveAccountAliasRequest.from_dict({"id": moved.id, "from": "2026-06-01T00:00:00Z"})]))
moved = accounts.list_account_aliases("globex-main").data[0]
check(moved.effective_until == utc(2026, 6, 1), f"removed from 1 June: {moved!r}")
refused(404, accounts.list_account_aliases, "nobody")

# Credits: grant 100.00, balance 100.00, void, balance 0.
credits = CreditsApi(api)
granted = credits.create_credit(CreateCreditRequest(credit_requests=[CreditRequest(
    account_id="initech-main", purpose="welcome", effective_from=date(2026, 1, 1),
    effective_until=date(2030, 12, 31), credit_amount=100.00, priority=1,
    idempotency_key="welcome-initech")]))
credit = granted.credits[0]
check(credit.credit_amount == 100 and credit.status == "ACTIVE", f"credit: {credit!r}")
check(credit.effective_until == date(2030, 12, 31), f"credit's last day: {credit!r}")
balance = credits.credit_balance_for_account("initech-main")
check(balance.available_balance == 100 and balance.unit == "USD", f"balance: {balance!r}")
listed = credits.list_credits(account_id="initech-main")
check([c.id for c in listed.data] == [credit.id], f"credits: {listed!r}")
voided = credits.void_credit(credit.id)
check(voided.status == "VOIDED", f"voided: {voided!r}")
details = credits.get_credit_details(credit.id)
check([t.transaction_type for t in details.transactions] == ["CREDITED", "VOIDED"], f"details: {details!r}")
check(credits.credit_balance_for_account("initech-main").available_balance == 0, "balance after void")
refused(404, credits.get_credit_details, "cg_nothing")

# License updates: 5 seats, then 3 more.
licenses = LicensesApi(api)
first = licenses.add_license_update_entry(LicenseUpdateRequest(
    license_id="seats", account_id="initech-main", update_type="ABSOLUTE", quantity=5,
    effective_from=utc(2026, 1, 5, 9), idempotency_key="seats-1"))
check(first.quantity == 5, f"license update: {first!r}")
second = licenses.add_license_update_entry(LicenseUpdateRequest(
    license_id="seats", account_id="initech-main", update_type="RELATIVE", quantity=3,
    effective_from=utc(2026, 1, 10), idempotency_key="seats-2"))
check(second.quantity == 8, f"absolute quantity after +3: {second!r}")
page = licenses.get_license_updates(account_id="initech-main", page_size=1)
check(len(page.data) == 1 and page.next_token == "seats-1", f"first page: {page!r}")
page = licenses.get_license_updates(account_id="initech-main", page_size=1, next_token=page.next_token)
check([u.quantity for u in page.data] == [8] and page.next_token is None, f"second page: {page!r}")
refused(400, licenses.add_license_update_entry, LicenseUpdateRequest(
    license_id="seatz", account_id="initech-main", update_type="ABSOLUTE", quantity=1))

# Settings: read, change, unsupported ids named.
settings = SettingsApi(api)
listed = settings.list_setting()
check({s.id for s in listed.data} == {"baseCurrency", "enabledCurrencies", "netTermDays",
                                      "invoiceNumberFormat", "creditNoteNumberFormat",
                                      "voidIssuesCreditNote"}, f"settings: {listed!r}")
changed = settings.update_setting("netTermDays", UpdateSettingRequest(value="45"))
check(changed.value == "45", f"changed: {changed!r}")
check(settings.get_setting("netTermDays").value == "45", "netTermDays read back")
org = settings.get_setting("baseCurrency").entity_id
inserted = settings.insert_setting(Setting(
    id="enabledCurrencies", value='["USD","EUR"]', entity_type="ORGANIZATION", entity_id=org,
    namespace="USER", name="Enabled currencies", data_type=SettingDataType.JSON))
check(inserted.value == '["USD","EUR"]', f"inserted: {inserted!r}")
e = refused(400, settings.get_setting, "timezoneOfTheMoon")
check("timezoneOfTheMoon" in e.body, f"names the setting: {e.body}")

# Customers and accounts that change. initech-main has credit grants and license
# updates (billing history); globex-main only alias ranges.
changed = customers.update_customer("initech", UpdateCustomerRequest(
    name="Initech Inc", address=Address(city="Dallas", country="US")))
check(changed.name == "Initech Inc" and changed.primary_email == "billing@initech.test",
      f"updated customer: {changed!r}")
check(changed.address.city == "Dallas" and changed.address.line1 is None, f"address whole: {changed!r}")
check(changed.updated_at > changed.created_at, f"updatedAt: {changed!r}")
contact = customers.create_customer_contact("initech", CreateCustomerContactRequest(
    name="Ann Smith", email="ann@initech.test", phone="+1 512 555 0100"))
check(contact.username.startswith("ct_") and not contact.login_access and not contact.verified,
      f"contact: {contact!r}")
e = refused(400, customers.create_customer_contact, "initech", CreateCustomerContactRequest(
    name="Bob", email="bob@initech.test", login_access=True))
check("loginAccess" in e.body, f"names loginAccess: {e.body}")
account = accounts.update_account("initech-main", UpdateAccountRequest(
    net_term_days=45, billing_information=AccountsBillingInformation(email_recipients=["ap@initech.test"])))
check(account.net_term_days == 45 and account.billing_information.email_recipients == ["ap@initech.test"],
      f"updated account: {account!r}")
e = refused(409, accounts.update_account, "initech-main", UpdateAccountRequest(invoice_currency="EUR"))
check("credit grant" in e.body, f"the currency of a credited account stays: {e.body}")
entry = licenses.update_license_entry_details(
    license_id="seats", license_entry_details_update_request=LicenseEntryDetailsUpdateRequest(
        account_id="initech-main", effective_from=utc(2026, 1, 5, 9), metadata={}))
check(entry.quantity == 5 and entry.license_id == "seats", f"license entry: {entry!r}")
refused(400, licenses.update_license_entry_details, license_id="seats",
        license_entry_details_update_request=LicenseEntryDetailsUpdateRequest(
            account_id="initech-main", effective_from=utc(2026, 1, 5, 9), metadata={"po": "4711"}))
eligible = InvoicesApi(api).list_invoices_for_bill_run()
check(eligible.data == [] and eligible.next_token is None, f"no drafts: {eligible!r}")
discarded = SchedulesApi(api).discard_account_schedules("globex-main")
check(discarded.success, f"discard: {discarded!r}")
e = refused(409, customers.delete_customer, "initech")
check("billing history" in e.body, f"initech is kept: {e.body}")
check(accounts.delete_account("globex-main").success, "globex-main deleted")
refused(404, accounts.get_account, "globex-main")
check(customers.delete_customer("globex").success, "globex deleted")
refused(404, customers.get_customer, "globex")
print("accounts: ok")
