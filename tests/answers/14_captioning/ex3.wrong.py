# Calls the package's box_iou under its top-level name, which the exercise rules out
# (forbidden() forbids the function wherever it is bound, xattn.box_iou included).
def iou_matrix(a, b):
    return xattn.box_iou(a, b)
