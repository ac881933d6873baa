"""All tables. One module per concept; importing this package registers them all with SQLModel."""
from gateway.models.audit import AuditEvent
from gateway.models.callcentre import CallbackRequest, TaskStatus
from gateway.models.ledger import LedgerEntry
from gateway.models.loans import ImportedLoan, Installment, InstallmentStatus, Loan, LoanStatus
from gateway.models.messaging import (
    CallStatus,
    DeliveryReport,
    InboundSms,
    Message,
    MessageStatus,
    RejectedCallback,
    Reminder,
    ReminderStatus,
    VoiceCall,
    VoiceEvent,
)
from gateway.models.notify import Notification, NotificationStatus, WebhookEndpoint
from gateway.models.ops import CallLog, CollectionAssignment, Flag, Promise, PursuitStop
from gateway.models.payg import Device, PaygToken
from gateway.models.payments import (
    CallbackStatus,
    IntentStatus,
    Payment,
    PaymentConflict,
    PaymentIntent,
    PaymentReversal,
    PaymentStatus,
    PendingReversal,
    RawCallback,
    ReversalStatus,
)
from gateway.models.payouts import CommissionPayout, CommissionStatement, StatementLine, StatementStatus
from gateway.models.people import Agent, Borrower, CodeKind, FieldPartner, LenderCode
from gateway.models.products import Product
from gateway.models.spotchecks import SpotCheck, SpotCheckCall, SpotCheckStatus

__all__ = [
    "AuditEvent", "Agent", "Borrower", "FieldPartner", "LenderCode", "CodeKind", "Installment", "Loan", "LoanStatus",
    "InstallmentStatus", "Product", "ImportedLoan",
    "LedgerEntry", "Payment", "PaymentIntent", "PaymentStatus", "CallbackRequest", "Message",
    "CallLog", "CollectionAssignment", "Flag", "Promise", "PursuitStop",
    "PaymentReversal", "PendingReversal", "ReversalStatus", "PaymentConflict", "RawCallback", "Device", "PaygToken",
    "DeliveryReport", "InboundSms", "RejectedCallback", "Reminder", "VoiceCall", "VoiceEvent",
    "Notification", "NotificationStatus", "WebhookEndpoint",
    "SpotCheck", "SpotCheckCall", "SpotCheckStatus",
    "CommissionPayout", "CommissionStatement", "StatementLine", "StatementStatus",
    "CallbackStatus", "IntentStatus", "MessageStatus", "ReminderStatus", "CallStatus", "TaskStatus",
]
