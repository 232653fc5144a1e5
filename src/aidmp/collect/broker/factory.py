"""The broker a configuration names, with its client library imported only then.

Example:
    >>> from aidmp.config import RedisBrokerConfig
    >>> open_broker  # doctest: +ELLIPSIS
    <function open_broker at ...>
"""

from __future__ import annotations

from aidmp.collect.broker.base import Broker
from aidmp.config import KafkaBrokerConfig, RedisBrokerConfig

__all__ = ["open_broker"]


def open_broker(config: KafkaBrokerConfig | RedisBrokerConfig, *, client_id: str) -> Broker:
    """The broker a configuration names (its client library is imported only then)."""
    if config.kind == "kafka":
        from aidmp.collect.broker.kafka import KafkaBroker

        return KafkaBroker(config, client_id=client_id)
    from aidmp.collect.broker.redis_streams import RedisStreamBroker

    return RedisStreamBroker(config, client_id=client_id)
