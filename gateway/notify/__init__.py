"""Events to Slack and other systems: per lender, outbound webhooks (Slack incoming webhooks or
generic signed JSON), each with the events it wants. Events are stored as Notification rows in the
transaction where they happen (the outbox) and delivered by a job (gateway.workers.notify) through
the adapter in gateway.providers.webhooks."""
