//! Git checkpoints for ralph (gitoxide). Not implemented yet: the engine runs with `NoCheckpoints`.
