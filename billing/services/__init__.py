"""Billing writes, one module per concern; import from the module that does the work.

- `plans`: seed the catalog's plans, sync them to Stripe, what an org may buy and how many units.
- `customers`: the org's billing row (`account_for_update`), its owner, its Stripe customer.
- `checkout`: Stripe-hosted pages, Checkout and the Customer Portal.
- `state`: apply a Stripe subscription's state to the billing row; record every change.
- `subscriptions`: change plan, preview, cancel, reactivate, sync seats.
- `manual`: orgs billed outside Stripe.
- `reconcile`: repair drift between the local row and Stripe.
- `payments`: refunds and payment methods.
- `usage`: metered usage against the plan's monthly allowance.

Stripe-backed changes call Stripe first (gateway), then record what Stripe answered, locally
and in dj-stripe's models, with the audit event, in the caller's transaction. Webhooks
(billing.webhooks) bring the same state later; the ordering guard in `state` keeps the newest.
"""
