def slot(size):  # list_order.hpp size_class_slot: 31 - bit_length(size)
    return 31 - (size.bit_length() if size > 0 else 0)
