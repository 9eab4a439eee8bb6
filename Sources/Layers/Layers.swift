// Layers module: filled in by its own work item.
