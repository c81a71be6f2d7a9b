package masking

func resultColumn(e *Engine, name string, src ColumnRef, l Lineage) *ColumnMasker {
	return e.ResultColumn(name, src, l)
}
