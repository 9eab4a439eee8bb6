// Training module: filled in by its own work item.
import AllReduce
