"""Transports behind one interface with Kafka semantics; they know nothing of orders."""

from .base import Bus, BusClosed, BusError, BusFull, Consumer, EntryTooLarge, Fenced, Producer, Wiring, partition_for

__all__ = [
    "Bus", "BusClosed", "BusError", "BusFull", "Consumer", "EntryTooLarge", "Fenced", "Producer", "Wiring", "partition_for",
    "make_bus",
]


def make_bus(wiring: Wiring, settings) -> Bus:
    """Build the transport named by `settings.bus.transport` for this wiring."""
    transport = settings.bus.transport
    if transport == "shm":
        from .shm import ShmBus

        return ShmBus(wiring, settings.bus)
    if transport == "inproc":
        from .inproc import InprocBus

        return InprocBus(wiring, settings.bus)
    if transport == "kafka":
        from .kafka import KafkaBus

        return KafkaBus(wiring, settings)
    raise ValueError(f"bus.transport: unknown transport {transport!r}")
