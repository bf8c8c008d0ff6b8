module llmkit.test/gotmpl

go 1.19
