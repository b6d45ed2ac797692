def get_assert(output, context):
    wanted = int(context["vars"]["n"])
    items = [x for x in output.split(",") if x.strip()]
    return {"pass": len(items) == wanted, "score": 1.0 if len(items) == wanted else 0.0,
            "reason": f"{len(items)} items, wanted {wanted}"}
