"""Features and entitlements through the official client (see common.py for how this
script is run): the test has set up acme with the plan `api` (1,000 API calls a month,
overage at most 500), the feature `api_calls` and the account a1 in its first cycle
with 400 calls used."""

from togai_client import (
    EntitlementsApi,
    FeatureApi,
    UpdateFeatureRequest,
    ValidateEntitlementValueRequest,
)

from common import check, client, refused

api = client()
features = FeatureApi(api)
entitlements = EntitlementsApi(api)

updated = features.update_feature("api_calls", UpdateFeatureRequest(billable_name="API calls"))
check(updated.id == "api_calls" and updated.display_name == "API calls", f"updated: {updated!r}")
check(updated.updated_at is not None, f"updatedAt: {updated!r}")
got = features.get_feature("api_calls")
check(got.billable_name == "API calls", f"feature: {got!r}")
refused(404, features.update_feature, "nope", UpdateFeatureRequest(name="x"))

# 400 used of 1,000: 600 left.
values = entitlements.get_entitlements("a1")
check(
    [(v.feature_id, v.value) for v in values.data] == [("api_calls", "600")],
    f"entitlements: {values!r}",
)
one = entitlements.get_entitlement_value("a1", "api_calls")
check([(v.feature_id, v.value) for v in one.data] == [("api_calls", "600")], f"value: {one!r}")
refused(404, entitlements.get_entitlement_value, "a1", "nope")

# 600 left + 500 of overage: 1,100 allowed, 1,101 not.
ok = entitlements.validate_entitlement_value(
    "a1", "api_calls", ValidateEntitlementValueRequest(value="1100"))
check(ok.success is True, f"1100: {ok!r}")
no = entitlements.validate_entitlement_value(
    "a1", "api_calls", ValidateEntitlementValueRequest(value="1101"))
check(no.success is False, f"1101: {no!r}")
refused(400, entitlements.validate_entitlement_value, "a1", "api_calls",
        ValidateEntitlementValueRequest(value="many"))

credits = entitlements.get_feature_credits("a1", "api_calls")
check(
    (credits.granted, credits.balance, credits.overage_limit, credits.used_overage)
    == (1000, 600, 500, 0),
    f"feature credits: {credits!r}",
)
print("entitlements: ok")
