print("ast-bench: see README")
