"""Where adapter methods plug into model families: specs written as data, the per-model runtime, the per-call
record, model entries and the scoped attention hooks (see docs/architecture.md)."""
