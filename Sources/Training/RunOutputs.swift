/// One run per checkpoint directory and metrics file: a run may not mix its checkpoints with
/// another run's (nor move that run's `latest`), and a new run may not truncate a metrics file
/// that holds lines. Checked before anything is loaded or written, so a refused run leaves every
/// file as it was; `--overwrite` lets a new run replace them.
public enum RunOutputs {
    /// Throws (one line naming the directory or file and the ways out) when `config` would write
    /// over another run's outputs. Returns whether the checkpoint directory holds another run
    /// that `--overwrite` replaces (its checkpoints are removed before this run writes there).
    @discardableResult
    public static func check(_ config: TrainConfig) throws -> Bool {
        var replacing = false
        if let dir = config.checkpointDir {
            let resumed = config.resume.flatMap(CheckpointDirectory.resolve)
            if resumed.map({ !CheckpointDirectory.isRunDirectory(dir, of: $0) }) ?? true {
                try CheckpointDirectory.requireUnused(dir, overwrite: config.overwrite)
                replacing = config.overwrite
            }
        }
        if config.resume == nil, let metrics = config.metricsPath {
            try MetricsWriter.requireUnused(metrics, overwrite: config.overwrite)
        }
        return replacing
    }
}
