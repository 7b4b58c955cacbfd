"""Price Plan V2 through the official client (see common.py for how this script is
run): create an empty plan, bulk rate card operations, finalize, a second version,
versions, errors, listing, pricing rules, discard. The organisation has the usage
meter `api_calls` (tests/it/fixtures.rs)."""

from togai_client import (
    BulkRateCardOperationsRequest,
    CreatePricePlanV2Request,
    FinalizePricePlanRequest,
    PricePlanV2Api,
    UpdatePricePlanV2Request,
    UpdatePricingRulesRequest,
)

from common import check, client, refused

plans = PricePlanV2Api(client())

CYCLE = {"interval": "MONTHLY", "startOffset": {"dayOffset": "1", "monthOffset": "NIL"},
         "gracePeriod": 3, "anniversaryCycle": False}


def new_plan(name):
    return CreatePricePlanV2Request.from_dict({
        "name": name, "type": "BILLING", "supportedCurrencies": ["USD"],
        "pricingCycleConfig": CYCLE,
    })


created = plans.create_price_plan_v2(new_plan("growth"))
check(created.id == "growth" and created.version == 1 and created.status == "DRAFT",
      f"created: {created!r}")
check(created.pricing_cycle_config.start_offset.month_offset == "NIL", f"cycle: {created!r}")
refused(409, plans.create_price_plan_v2, new_plan("growth"))
check(plans.list_price_plan_rate_cards("growth").data == [], "a new plan has no rate cards")

usage = {
    "actionType": "CREATE", "rateCardName": "api_calls",
    "rateCard": {
        "billableId": "api_calls", "type": "USAGE", "invoiceTiming": "IN_ARREARS",
        "displayName": "API calls",
        "rateCardDetails": {"usageRateCard": {
            "name": "api_calls", "displayName": "API calls", "usageMeterId": "api_calls",
            "ratePlan": {"pricingModel": "TIERED", "slabs": [
                {"order": 1, "startAfter": 0, "priceType": "PER_UNIT"},
                {"order": 2, "startAfter": 1000, "priceType": "PER_UNIT"}]},
            "rateValues": [{"currency": "USD", "slabRates": [
                {"order": 1, "rate": 0.10}, {"order": 2, "rate": 0.05}]}],
        }},
    },
}
fee = {
    "actionType": "CREATE", "rateCardName": "platform_fee",
    "rateCard": {
        "billableId": "platform", "type": "FIXED_FEE", "invoiceTiming": "IN_ADVANCE",
        "displayName": "Platform fee",
        "rateCardDetails": {"fixedFeeRateCard": {
            "id": "platform", "name": "platform_fee", "displayName": "Platform fee",
            "type": "RECURRING", "enableProration": True,
            "recurrenceConfig": {"interval": 1, "offset": 0},
            "rateValues": [{"currency": "USD", "rate": 99}],
        }},
    },
}
done = plans.bulk_price_plan_rate_card_operations(
    "growth", BulkRateCardOperationsRequest.from_dict({"operations": [usage, fee]}))
names = [c.name for c in done.rate_cards]
check(names == ["api_calls", "platform_fee"], f"cards: {names}")
card = done.rate_cards[0]
check(card.type == "USAGE" and card.billable_id == "api_calls" and card.price_plan_id == "growth",
      f"usage card: {card!r}")
rates = [r.rate for r in card.rate_card_details.usage_rate_card.rate_values[0].slab_rates]
check(rates == [0.1, 0.05], f"slab rates: {rates}")
fee_card = done.rate_cards[1].rate_card_details.fixed_fee_rate_card
check(fee_card.rate_values[0].rate == 99 and fee_card.id == "platform", f"fee: {fee_card!r}")

page = plans.list_price_plan_rate_cards("growth", page_size=1)
check([c.name for c in page.data] == ["api_calls"] and page.next_token, f"first page: {page!r}")
page = plans.list_price_plan_rate_cards("growth", page_size=1, next_token=page.next_token)
check([c.name for c in page.data] == ["platform_fee"] and page.next_token is None,
      f"second page: {page!r}")

bad = {**usage, "rateCardName": "eu_calls"}
bad["rateCard"] = {**usage["rateCard"], "rateCardDetails": {"usageRateCard": {
    **usage["rateCard"]["rateCardDetails"]["usageRateCard"], "name": "eu_calls",
    "rateValues": [{"currency": "EUR", "slabRates": [{"order": 1, "rate": 1}, {"order": 2, "rate": 2}]}]}}}
e = refused(400, plans.bulk_price_plan_rate_card_operations, "growth",
            BulkRateCardOperationsRequest.from_dict({"operations": [bad]}))
check("usageRateCard.rateValues" in e.body and "EUR" in e.body, f"bad card: {e.body}")

check(plans.list_price_plan_errors("growth").data == [], "no errors")
check(plans.list_price_plan_pricing_rules("growth").data == [], "no pricing rules")
rule = {"name": "discount", "order": 1, "computation": "{}", "action": {"type": "ADD"}}
e = refused(400, plans.update_price_plan_pricing_rules, "growth",
            UpdatePricingRulesRequest.from_dict({"pricingRules": [rule]}))
check("pricingRules[0].computation" in e.body and "discount" in e.body, f"pricing rules: {e.body}")
check(plans.update_price_plan_pricing_rules("growth", UpdatePricingRulesRequest(pricing_rules=[])).data == [],
      "an empty list of pricing rules")
off = {"name": "10 % off usage", "order": 1, "invoiceTiming": "IN_ARREARS",
       "condition": '{">": [{"var": "revenue.api_calls"}, 500]}',
       "computation": '{"*": [{"var": "revenue.api_calls"}, 0.9]}',
       "action": {"type": "UPDATE", "target": "api_calls"}}
put = plans.update_price_plan_pricing_rules(
    "growth", UpdatePricingRulesRequest.from_dict({"pricingRules": [off]}))
got_rules = plans.list_price_plan_pricing_rules("growth").data
check([(r.id, r.version, r.order, r.action.type, r.action.target) for r in got_rules]
      == [("10 % off usage", 1, 1, "UPDATE", "api_calls")] and put.data == got_rules,
      f"pricing rules: {got_rules!r}")
check(plans.update_price_plan_pricing_rules("growth", UpdatePricingRulesRequest(pricing_rules=[])).data == [],
      "pricing rules removed")

check(plans.finalize_price_plan("growth", FinalizePricePlanRequest()).success, "finalized")
got = plans.get_price_plan_v2("growth")
check(got.status == "ACTIVE" and got.version == 1, f"after finalize: {got!r}")
refused(409, plans.finalize_price_plan, "growth", FinalizePricePlanRequest())

v2 = plans.update_price_plan_v2("growth", UpdatePricePlanV2Request(description="2027 prices"))
check(v2.version == 2 and v2.status == "DRAFT" and v2.description == "2027 prices", f"v2: {v2!r}")
versions = plans.list_price_plan_versions("growth")
check([(v.version, v.status) for v in versions.data] == [(1, "ACTIVE"), (2, "DRAFT")],
      f"versions: {versions!r}")
check(plans.get_price_plan_v2("growth", version="1").description is None, "version 1 unchanged")
check(len(plans.list_price_plan_rate_cards("growth").data) == 2, "version 2 keeps the cards")
check(plans.discard_price_plan("growth").success, "discarded")
check([v.version for v in plans.list_price_plan_versions("growth").data] == [1], "only version 1")

plans.create_price_plan_v2(new_plan("basic"))
listed = plans.list_price_plans_v2(page_size=10)
check([(p.id, p.status) for p in listed.data] == [("basic", "DRAFT"), ("growth", "ACTIVE")],
      f"plans: {listed!r}")
refused(404, plans.get_price_plan_v2, "nothing")
print("price plans: ok")
