module gorender

go 1.18
